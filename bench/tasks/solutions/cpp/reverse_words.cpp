#include <sstream>
#include <string>
#include <vector>

std::string reverse_words(std::string sentence) {
    std::istringstream input(sentence);
    std::vector<std::string> words;
    std::string word;
    while (input >> word) {
        words.push_back(word);
    }
    std::string result;
    for (auto it = words.rbegin(); it != words.rend(); ++it) {
        if (!result.empty()) {
            result += " ";
        }
        result += *it;
    }
    return result;
}
