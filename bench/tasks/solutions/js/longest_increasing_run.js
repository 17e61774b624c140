function longestIncreasingRun(numbers) {
  let best = 0;
  let run = 0;
  for (let i = 0; i < numbers.length; i++) {
    run = i > 0 && numbers[i] > numbers[i - 1] ? run + 1 : 1;
    best = Math.max(best, run);
  }
  return best;
}
