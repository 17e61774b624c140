fn run_length_encode(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut result = String::new();
    let mut index = 0;
    while index < chars.len() {
        let mut end = index;
        while end < chars.len() && chars[end] == chars[index] {
            end += 1;
        }
        result.push(chars[index]);
        result.push_str(&(end - index).to_string());
        index = end;
    }
    result
}
