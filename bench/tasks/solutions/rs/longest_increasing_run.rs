fn longest_increasing_run(numbers: Vec<i64>) -> i64 {
    let mut best: i64 = 0;
    let mut run: i64 = 0;
    for i in 0..numbers.len() {
        run = if i > 0 && numbers[i] > numbers[i - 1] { run + 1 } else { 1 };
        best = best.max(run);
    }
    best
}
