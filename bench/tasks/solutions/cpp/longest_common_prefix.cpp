#include <string>
#include <vector>

std::string longest_common_prefix(std::vector<std::string> words) {
    if (words.empty()) {
        return "";
    }
    std::string prefix = words[0];
    for (const std::string& word : words) {
        size_t length = 0;
        while (length < prefix.size() && length < word.size() && prefix[length] == word[length]) {
            length++;
        }
        prefix = prefix.substr(0, length);
    }
    return prefix;
}
