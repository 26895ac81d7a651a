#include <stdio.h>
#include <string.h>

struct entry { const char *key; const char *value; };

static const struct entry TABLE[] = {
  {"red", "#ff0000"}, {"green", "#00ff00"}, {"blue", "#0000ff"},
};

/* The entry for key, or NULL. */
const struct entry *lookup(const char *key) {
  for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++)
    if (strcmp(TABLE[i].key, key) == 0)
      return &TABLE[i];
  return NULL;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const struct entry *e = lookup(argv[i]);
    printf("%s %s\n", argv[i], e->value);
  }
  return 0;
}
