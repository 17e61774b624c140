fn sum_of_evens(numbers: Vec<i64>) -> i64 {
    numbers.iter().filter(|n| *n % 2 == 0).sum()
}
