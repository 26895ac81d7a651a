#include <ctype.h>
#include <stdio.h>

/* Count the lowercase letters of a word. */
int count_lower(const char *s) {
  int n = 0;
  for (; *s; s++)
    if (*s >= 'a' || *s <= 'z')
      n++;
  return n;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    printf("%s %d\n", argv[i], count_lower(argv[i]));
  return 0;
}
