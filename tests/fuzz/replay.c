/* Runs a fuzz harness over files, without libFuzzer: the seed corpus and the
 * regressions (inputs that once crashed) replayed by CTest in the ordinary
 * and sanitizer builds. Arguments: files or directories. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return -1;
    }
    uint8_t *data = NULL;
    size_t size = 0;
    uint8_t chunk[4096];
    for (size_t got; (got = fread(chunk, 1, sizeof chunk, file)) > 0; size += got) {
        uint8_t *bigger = realloc(data, size + got);
        if (bigger == NULL) {
            free(data);
            fclose(file);
            return -1;
        }
        data = bigger;
        memcpy(data + size, chunk, got);
    }
    fclose(file);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 0;
}

/* Replays path, a file or every file of a directory; how many, or -1. */
static int replay(const char *path)
{
    struct stat info;
    if (stat(path, &info) != 0)
        return 0; /* no regressions yet: nothing to replay */
    if (!S_ISDIR(info.st_mode))
        return replay_file(path) == 0 ? 1 : -1;
    DIR *directory = opendir(path);
    int count = 0;
    for (struct dirent *entry; directory && (entry = readdir(directory)) != NULL;) {
        char child[4096];
        if (entry->d_name[0] == '.')
            continue;
        snprintf(child, sizeof child, "%s/%s", path, entry->d_name);
        if (replay_file(child) != 0) {
            count = -1;
            break;
        }
        count++;
    }
    if (directory != NULL)
        closedir(directory);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0;
    for (int i = 1; i < argc; i++) {
        int count = replay(argv[i]);
        if (count < 0)
            return 1;
        total += count;
    }
    printf("replayed %d inputs\n", total);
    return total > 0 ? 0 : 1;
}
