/*
 * fill: the process bench/page-server.ts dumps with real CRIU. `fill MARKERDIR MIB` maps MIB MiB of
 * private anonymous memory, fills every page with words derived from its index and generation,
 * writes its pid to MARKERDIR/fill.ready and waits for signals:
 *   SIGUSR1: rewrite 10% of the pages (runs of 1..32 pages, fixed seed), bump their generation,
 *            then write MARKERDIR/fill.step1 (the second dump sees 90% of the pages unchanged);
 *   SIGUSR2: check every page against what it should hold, write "bad_pages N" to fill.verified
 *            (after a restore: proves the pages came back, and touches all of them).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
static volatile sig_atomic_t got1, got2;
static void on1(int s) { (void)s; got1 = 1; }
static void on2(int s) { (void)s; got2 = 1; }

static uint64_t mix(uint64_t x) {
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill_page(uint64_t *p, size_t idx, unsigned gen) {
	uint64_t s = mix(idx * 0x10001ull + gen);
	for (size_t w = 0; w < PAGE / 8; w++) p[w] = s + w * 0x2545f4914f6cdd1dull;
}

static void marker(const char *dir, const char *name, const char *text) {
	char path[4096], tmp[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

int main(int argc, char **argv) {
	if (argc != 3) { fprintf(stderr, "usage: fill MARKERDIR MIB\n"); return 2; }
	size_t pages = (size_t)atol(argv[2]) * 256;
	uint8_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *gen = calloc(pages, 1);
	if (mem == MAP_FAILED || !gen) { perror("fill"); return 1; }
	for (size_t i = 0; i < pages; i++) fill_page((uint64_t *)(mem + i * PAGE), i, 0);
	signal(SIGUSR1, on1);
	signal(SIGUSR2, on2);
	char text[64];
	snprintf(text, sizeof text, "%d\n", getpid());
	marker(argv[1], "fill.ready", text);
	sigset_t none;
	sigemptyset(&none);
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, NULL);
	for (;;) {
		while (!got1 && !got2) sigsuspend(&none);
		if (got1) {
			got1 = 0;
			uint64_t r = 42;
			size_t changed = 0;
			while (changed < pages / 10) {
				r = mix(r);
				size_t at = r % pages, len = 1 + (r >> 40) % 32;
				for (size_t i = at; i < at + len && i < pages; i++) {
					if (gen[i] == 0) changed++;
					gen[i] = 1;
					fill_page((uint64_t *)(mem + i * PAGE), i, 1);
				}
			}
			marker(argv[1], "fill.step1", text);
		}
		if (got2) {
			got2 = 0;
			static uint64_t want[PAGE / 8];
			size_t bad = 0;
			for (size_t i = 0; i < pages; i++) {
				fill_page(want, i, gen[i]);
				if (memcmp(want, mem + i * PAGE, PAGE)) bad++;
			}
			snprintf(text, sizeof text, "bad_pages %zu\n", bad);
			marker(argv[1], "fill.verified", text);
		}
	}
}
