#include <string>

std::string run_length_encode(std::string text) {
    std::string result;
    size_t index = 0;
    while (index < text.size()) {
        size_t end = index;
        while (end < text.size() && text[end] == text[index]) {
            end++;
        }
        result += text[index];
        result += std::to_string(end - index);
        index = end;
    }
    return result;
}
