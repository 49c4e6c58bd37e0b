pub use tributary_engine as engine;
