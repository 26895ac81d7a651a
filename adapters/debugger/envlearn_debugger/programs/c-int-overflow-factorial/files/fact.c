#include <stdio.h>
#include <stdlib.h>

/* n! for 0 <= n <= 20 */
unsigned long long factorial(int n) {
  int result = 1;
  for (int i = 2; i <= n; i++)
    result *= i;
  return result;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fact N\n");
    return 2;
  }
  printf("%llu\n", factorial(atoi(argv[1])));
  return 0;
}
