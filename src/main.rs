fn main() {
    // Deeply nested JSON (Go allows 10,000 levels) is parsed recursively;
    // give the main work thread room for it.
    let code = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(ekvplan::main)
        .expect("spawn main thread")
        .join()
        .unwrap_or(1);
    std::process::exit(code);
}
