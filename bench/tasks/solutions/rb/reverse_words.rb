def reverse_words(sentence)
  sentence.split.reverse.join(" ")
end
