def digit_sum(n)
  n.digits.sum
end
