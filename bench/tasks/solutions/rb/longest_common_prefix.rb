def longest_common_prefix(words)
  return "" if words.empty?

  prefix = words.first
  words.each do |word|
    prefix = prefix[0...-1] until word.start_with?(prefix)
  end
  prefix
end
