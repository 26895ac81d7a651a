#include <stdio.h>
#include <stdlib.h>

/* Sum of the first n numbers given on the command line. */
long sum_first(const long *xs, int n) {
  long total = 0;
  for (int i = 0; i <= n; i++)
    total += xs[i];
  return total;
}

int main(int argc, char **argv) {
  int count = argc - 2;
  long xs[16] = {0};
  if (argc < 2 || count > 15) {
    fprintf(stderr, "usage: sum N X1 X2 ...\n");
    return 2;
  }
  for (int i = 0; i < count; i++)
    xs[i] = atol(argv[i + 2]);
  xs[count] = 1000;  /* a sentinel after the numbers */
  int n = atoi(argv[1]);
  printf("%ld\n", sum_first(xs, n));
  return 0;
}
