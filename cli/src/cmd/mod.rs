//! One module per subcommand: its clap `Args` and its `run`.

pub(crate) mod check;
pub(crate) mod clean;
pub(crate) mod info;
pub(crate) mod ls;
pub(crate) mod mq;
pub(crate) mod rm;
