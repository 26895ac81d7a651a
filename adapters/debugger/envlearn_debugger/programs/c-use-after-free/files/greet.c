#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "Hello, NAME!" in a new buffer. */
char *greeting(const char *name) {
  char *buf = malloc(strlen(name) + 16);
  sprintf(buf, "Hello, %s!", name);
  return buf;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: greet NAME\n");
    return 2;
  }
  char *g = greeting(argv[1]);
  free(g);
  char *other = malloc(strlen(argv[1]) + 16);
  strcpy(other, "reused memory");
  printf("%s\n", g);
  free(other);
  return 0;
}
