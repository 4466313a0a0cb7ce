// SPDX-License-Identifier: MIT
/*
 * fuzz-standalone.h - the replayer main() of every fuzz target's
 * FUZZ_STANDALONE build (gcc, no libFuzzer): each file named on the command
 * line is one input to LLVMFuzzerTestOneInput(), and what the target wrote
 * into its fuzz_result[] is printed after the file's name. Include it at
 * the end of the target, after defining FUZZ_NAME ("fuzz-recording") and,
 * for a target that keeps files between inputs, FUZZ_CLEANUP() (removes
 * them once all are replayed).
 */
#ifndef FUZZ_CLEANUP
#define FUZZ_CLEANUP()	do { } while (0)
#endif

int main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rbe");
		uint8_t *b = NULL;
		size_t n = 0, cap = 0;

		if (f == NULL) {
			perror(argv[i]);
			return 1;
		}
		for (;;) {
			if (n == cap) {
				uint8_t *p = realloc(b, cap = cap ? cap * 2 : 4096);

				if (p == NULL) {
					fprintf(stderr, "%s: out of memory\n", argv[i]);
					return 1;
				}
				b = p;
			}
			size_t r = fread(b + n, 1, cap - n, f);

			if (r == 0)
				break;
			n += r;
		}
		fclose(f);
		fuzz_result[0] = '\0';
		LLVMFuzzerTestOneInput(b, n);
		printf("%s: %s\n", argv[i], fuzz_result);
		free(b);
	}
	FUZZ_CLEANUP();
	printf(FUZZ_NAME ": %d inputs replayed\n", argc - 1);
	return 0;
}
