//! Code shared by the example launchers: argument parsing, the 2D run, plots.

pub mod plot;
pub mod toy2d_run;
