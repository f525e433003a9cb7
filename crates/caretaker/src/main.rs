//! `caretaker`: see `caretaker --help`, and crates/cli for what each command does.

/// mimalloc instead of the system allocator: a page of tasks allocates a few thousand small
/// strings, and glibc's malloc was about a seventh of the server's CPU (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    caretaker_cli::main()
}
