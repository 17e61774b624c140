fn count_vowels(text: &str) -> i64 {
    text.chars()
        .filter(|c| "aeiouAEIOU".contains(*c))
        .count() as i64
}
