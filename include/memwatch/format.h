/* memwatch snapshot file format (.mws): the on-disk contract between the
 * preloaded recorder, which writes snapshots, and the analyzer, which reads
 * them.  Everything is little-endian.
 *
 * A file is a fixed header, a sequence of sections and an 8-byte trailer:
 *
 *   offset 0   header (MEMWATCH_HEADER_SIZE bytes)
 *                u8  magic[8]        "MEMWATCH"
 *                u32 version         MEMWATCH_FORMAT_VERSION
 *                u32 header_size     MEMWATCH_HEADER_SIZE
 *                u64 file_size       total bytes, header and trailer included
 *                u32 section_count
 *                u32 flags           0; readers reject unknown bits
 *   then, section_count times:
 *                u32 type            enum memwatch_section
 *                u32 reserved        0
 *                u64 length          payload bytes that follow
 *                u8  payload[length]
 *   last 8 bytes: u64 checksum       hash64(file[0 .. file_size-8), seed 0)
 *
 * hash64(data, n, seed), also used in memory to key call stacks:
 *   h = seed ^ 0x9e3779b97f4a7c15 ^ n
 *   for each 8-byte little-endian word w (the last one zero-padded):
 *       h = (h ^ w) * 0xbf58476d1ce4e5b9;  h ^= h >> 31
 *   then h ^= h >> 30; h *= 0xbf58476d1ce4e5b9; h ^= h >> 27;
 *        h *= 0x94d049bb133111eb; h ^= h >> 31
 *
 * Payloads are made of unsigned LEB128 varints ("v"), zigzag varints for
 * signed values ("s"), byte strings ("b": v length, then the bytes, no NUL).
 * A reader skips sections whose type it does not know, so sections can be
 * added without a version bump; changing the meaning of an existing field
 * requires a new MEMWATCH_FORMAT_VERSION.
 *
 * MEMWATCH_SECTION_META: v count, then count entries
 *     b key, u8 type (enum memwatch_meta_type), value (v, s or b).
 *   Keys written by version 1 (readers must tolerate missing keys):
 *     "trigger"      b  exit | python-exit | signal | interval | api
 *     "pid" "ppid"   v
 *     "seq"          v  sequence number of this snapshot in its process
 *     "time_ns"      v  CLOCK_REALTIME when the snapshot was taken
 *     "start_ns"     v  CLOCK_REALTIME when recording started
 *     "cmdline"      b  argv joined by NUL bytes
 *     "exe" "cwd"    b
 *     "live_bytes" "live_blocks" "peak_bytes"             v
 *     "total_bytes" "total_allocs" "total_frees"          v
 *     "unknown_frees"  v  frees of blocks memwatch never saw allocated
 *     "ring_waits"     v  times a producer waited on a full ring
 *     "events"         v  events processed by the recorder
 *     "native_depth"   v
 *     "python"         b  human readable state of Python support
 *     "python_version" b  "3.11" when Python frames were recorded
 *     "python_objects" b  how Python objects were seen (e.g. "malloc")
 *     "label"          b  optional, given by the API caller
 *
 * MEMWATCH_SECTION_MODULES: v count, then per loaded object
 *     v id, v bias (load address), v start, v end (lowest and highest
 *     mapped address of its PT_LOAD segments), b path, b build_id,
 *     v flags (enum memwatch_module_flags).
 *
 * MEMWATCH_SECTION_CODES: v count, then per Python code object
 *     v id, v py_version (major*100+minor), s firstlineno, b filename,
 *     b name, b qualname, b linetable (co_lnotab before 3.10, co_linetable
 *     from 3.10, raw).
 *
 * MEMWATCH_SECTION_SITES: v count, then per call stack with live blocks
 *     v live_bytes, v live_count, v total_bytes, v total_count,
 *     v nframes, then nframes frames, most recent first:
 *       u8 kind (enum memwatch_frame_kind)
 *       NATIVE: v address (a return address, except for the first frame)
 *       PYTHON: v code id, v instruction byte offset
 *   Every code id refers to the CODES section of the same file.
 */
#ifndef MEMWATCH_FORMAT_H
#define MEMWATCH_FORMAT_H

#include <stdint.h>

#define MEMWATCH_MAGIC "MEMWATCH"
#define MEMWATCH_MAGIC_SIZE 8
#define MEMWATCH_FORMAT_VERSION 1
#define MEMWATCH_HEADER_SIZE 32
#define MEMWATCH_SECTION_HEADER_SIZE 16
#define MEMWATCH_TRAILER_SIZE 8

enum memwatch_section {
    MEMWATCH_SECTION_META = 1,
    MEMWATCH_SECTION_MODULES = 2,
    MEMWATCH_SECTION_CODES = 3,
    MEMWATCH_SECTION_SITES = 4,
};

enum memwatch_meta_type {
    MEMWATCH_META_UINT = 0,
    MEMWATCH_META_INT = 1,
    MEMWATCH_META_BYTES = 2,
};

enum memwatch_frame_kind {
    MEMWATCH_FRAME_NATIVE = 0,
    MEMWATCH_FRAME_PYTHON = 1,
};

enum memwatch_module_flags {
    MEMWATCH_MODULE_MAIN = 1,        /* the program itself */
    MEMWATCH_MODULE_INTERPRETER = 2, /* holds the Python interpreter */
    MEMWATCH_MODULE_MEMWATCH = 4,    /* libmemwatch.so */
};

#endif /* MEMWATCH_FORMAT_H */
