def roman_to_int(numeral)
  values = { "I" => 1, "V" => 5, "X" => 10, "L" => 50, "C" => 100, "D" => 500, "M" => 1000 }
  total = 0
  numeral.chars.each_with_index do |char, index|
    value = values[char]
    following = numeral[index + 1]
    if following && value < values[following]
      total -= value
    else
      total += value
    end
  end
  total
end
