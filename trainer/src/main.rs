//! `brainfm`: the native command line over brainfm-core. Everything lives in the
//! `brainfm_trainer` library (src/lib.rs), which its tests and examples import too.

fn main() -> std::process::ExitCode {
    brainfm_trainer::cli::main()
}
