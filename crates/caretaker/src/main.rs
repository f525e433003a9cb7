//! `caretaker`: see `caretaker --help`, and crates/cli for what each command does.

fn main() -> std::process::ExitCode {
    caretaker_cli::main()
}
