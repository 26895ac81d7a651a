#include <stdio.h>
#include <stdlib.h>

/* The midpoint of two non-negative ints, rounded down. */
int midpoint(int a, int b) {
  int sum = a + b;
  return sum / 2;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: mid A B\n");
    return 2;
  }
  printf("%d\n", midpoint(atoi(argv[1]), atoi(argv[2])));
  return 0;
}
