/* The snapshot container: a directory holding
 *
 *   manifest   a small fixed header, the memory regions' checksums, then the
 *              body (the machine's state; its encoding is not this file's
 *              business)
 *   memory     guest RAM as a flat file of exactly the RAM's size, sparse:
 *              zero pages are holes. Mappable as is (MAP_PRIVATE).
 *   others     side files copied in by name, e.g. disk layers (cloned where
 *              the filesystem can, else a sparse copy)
 *
 * The manifest file, little-endian:
 *
 *   0   magic "IGNTSNAP"
 *   8   format version (u32, 1)
 *   12  header size (u32, 64)
 *   16  memory size in bytes (u64; a non-zero multiple of 4 KiB)
 *   24  region size in bytes (u32; a power of two, 64 KiB .. 1 GiB)
 *   28  region count (u32; memory size / region size, rounded up)
 *   32  body length (u64)
 *   40  CRC-32 of the region table
 *   44  CRC-32 of the body
 *   48  reserved, zero
 *   60  CRC-32 of bytes 0..59
 *   64  region table: region count × u32, CRC-32 of each memory region
 *       (the last one may be shorter than the region size)
 *   ..  body
 *
 * CRC-32 is zlib's (the ISO-HDLC polynomial, as in gzip and PNG).
 *
 * A snapshot is written in a hidden directory beside its final name and put in
 * place by snapshot_writer_commit only when complete and durable, so a crash at
 * any point leaves the previous snapshot of that name, or the new one, whole and
 * findable by snapshot_open. Leftovers of interrupted writers are hidden
 * (".NAME.new-XXXXXX", ".NAME.old-XXXXXX") and cleaned up by the next writer of
 * that name or by snapshot_remove. */
#ifndef IGNITION_SNAPSHOT_FILE_H
#define IGNITION_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_MAGIC "IGNTSNAP"
#define SNAPSHOT_FORMAT_VERSION 1u
#define SNAPSHOT_HEADER_SIZE 64u
#define SNAPSHOT_PAGE_SIZE 4096u
/* Large enough that the table stays small (2 KiB for 512 MiB), small enough
 * that a report of a damaged region says roughly where. */
#define SNAPSHOT_REGION_SIZE (1u << 20)
#define SNAPSHOT_REGION_SIZE_MIN (64u * 1024u)
#define SNAPSHOT_REGION_SIZE_MAX (1u << 30)
#define SNAPSHOT_MEMORY_MAX (1ull << 40)
#define SNAPSHOT_BODY_MAX (16u << 20)

/* Where the header's fields are (for tests and the fuzz harness). */
enum snapshot_header_offset {
    SNAPSHOT_OFF_MAGIC = 0,
    SNAPSHOT_OFF_VERSION = 8,
    SNAPSHOT_OFF_HEADER_SIZE = 12,
    SNAPSHOT_OFF_MEMORY_SIZE = 16,
    SNAPSHOT_OFF_REGION_SIZE = 24,
    SNAPSHOT_OFF_REGION_COUNT = 28,
    SNAPSHOT_OFF_BODY_LENGTH = 32,
    SNAPSHOT_OFF_TABLE_CRC = 40,
    SNAPSHOT_OFF_BODY_CRC = 44,
    SNAPSHOT_OFF_HEADER_CRC = 60,
};

/* A manifest file checked by snapshot_manifest_parse; the pointers point into
 * the buffer it was given. */
struct snapshot_manifest_info {
    uint64_t memory_size;
    uint32_t region_size;
    uint32_t region_count;
    const uint8_t *region_crcs; /* region_count little-endian u32s */
    const uint8_t *body;
    uint64_t body_length;
};

/* Checks a whole manifest file's bytes: magic, version, header size and
 * checksum, the sizes against each other and against size, and the table's and
 * body's checksums. Returns 0, or -1 with a reason ("manifest checksum
 * mismatch", ...). */
int snapshot_manifest_parse(const uint8_t *data, size_t size, struct snapshot_manifest_info *out,
                            char *err, size_t err_len);

/* CRC-32 of one memory region, as the region table holds it. */
uint32_t snapshot_region_crc(const uint8_t *data, size_t len);

/* ---- writing ----------------------------------------------------------------------------- */

struct snapshot_writer;

/* Starts a snapshot that will replace final_dir: makes a new private (0700)
 * directory with an unguessable name beside it. Also tidies what interrupted
 * writers of the same name left behind. Returns 0, or -1 with a reason. */
int snapshot_writer_begin(const char *final_dir, struct snapshot_writer **out, char *err,
                          size_t err_len);

/* Writes ram (size bytes: a non-zero multiple of 4 KiB) to `memory`: zero pages
 * become holes, runs of non-zero pages large sequential writes. Records each
 * region's checksum for the manifest. Once per snapshot, before the manifest.
 * Not durable until commit, so a paused guest may resume as soon as this
 * returns. Returns 0, or -1 with a reason. */
int snapshot_writer_memory(struct snapshot_writer *w, const void *ram, uint64_t size, char *err,
                           size_t err_len);
/* The same for RAM that is a mapping of the whole file ram_fd (a memfd): the
 * file's holes, pages the guest never touched, are skipped without being read,
 * so they are not brought into memory. */
int snapshot_writer_memory_file(struct snapshot_writer *w, const void *ram, int ram_fd,
                                uint64_t size, char *err, size_t err_len);
/* Bytes of non-zero pages the memory file holds (what its blocks cost). */
uint64_t snapshot_writer_memory_data(const struct snapshot_writer *w);

/* Copies the file at src_path in as name (a plain file name, not "manifest" or
 * "memory"): a filesystem clone (FICLONE, clonefile) where possible, else a
 * copy that keeps holes. The source must not change meanwhile (a paused guest
 * with quiesced queues). With crc, also its CRC-32 (zlib's, of the bytes as
 * they read, holes as zeros), summed during the copy (read through after a
 * clone). Returns 0, or -1 with a reason. */
int snapshot_writer_file(struct snapshot_writer *w, const char *name, const char *src_path,
                         uint32_t *crc, char *err, size_t err_len);

/* Writes `manifest`: the header, the memory's region checksums and body (at
 * most SNAPSHOT_BODY_MAX bytes). After the memory. Returns 0, or -1 with a
 * reason. */
int snapshot_writer_manifest(struct snapshot_writer *w, const uint8_t *body, size_t len,
                             char *err, size_t err_len);

/* Makes every file and the directory durable, then puts the directory in place
 * of final_dir (an atomic exchange where the filesystem has one, else two
 * renames that snapshot_open knows how to read across) and removes the
 * previous snapshot. Frees w whatever happens; on failure the new snapshot is
 * gone and the previous one untouched. Returns 0, or -1 with a reason. */
int snapshot_writer_commit(struct snapshot_writer *w, char *err, size_t err_len);

/* Removes the unfinished snapshot and frees w (NULL is fine). */
void snapshot_writer_abort(struct snapshot_writer *w);

/* What snapshot_writer_begin tidies for one name, for every snapshot in
 * parent: leftovers of dead writers are removed (a snapshot set aside between
 * renames is put back first); those of live writers, which hold a lock on
 * their directory, are left alone. For a start of vmmd, so that a name never
 * written again does not keep a dead writer's pages on disk. */
void snapshot_tidy_dir(const char *parent);

/* Removes the snapshot at dir and whatever interrupted writers left beside it.
 * Returns 0 (also when there was nothing), or -1 with a reason. */
int snapshot_remove(const char *dir, char *err, size_t err_len);

/* ---- reading ----------------------------------------------------------------------------- */

struct snapshot_reader;

/* Opens the snapshot at dir: checks the manifest and that `memory` has the
 * size it names. When dir is missing because a writer was interrupted between
 * its two renames, opens the previous snapshot it had set aside. Refuses a
 * damaged one with a reason naming the file ("memory is 4096 bytes short").
 * Returns 0, or -1 with a reason. */
int snapshot_open(const char *dir, struct snapshot_reader **out, char *err, size_t err_len);

/* The directory actually opened (dir, or the set-aside previous snapshot):
 * where side files are found. Valid until snapshot_close. */
const char *snapshot_dir(const struct snapshot_reader *r);

/* The manifest's body; valid until snapshot_close. */
void snapshot_manifest(const struct snapshot_reader *r, const uint8_t **body, size_t *len);

uint64_t snapshot_memory_size(const struct snapshot_reader *r);

/* Copies the side file name out of the snapshot to a new file at to (which
 * must not exist): a filesystem clone where possible, else a copy that keeps
 * holes; durable when this returns. The snapshot stays as it was. With
 * want_crc, the file's CRC-32 (as snapshot_writer_file gives it) is summed
 * during the copy and a file that does not match is refused as damaged (the
 * copy removed). Returns 0, or -1 with a reason. */
int snapshot_copy_out(const struct snapshot_reader *r, const char *name, const char *to,
                      const uint32_t *want_crc, char *err, size_t err_len);

/* snapshot_copy_out, checked the same way, except that a copy (not a clone)
 * is not yet durable when this returns: *unsynced is then its open
 * descriptor, for the caller to fsync and close (a restore does that once its
 * guest runs: fsync took 8 to 17 ms of a restore here). -1 when nothing is
 * left to do. */
int snapshot_copy_out_unsynced(const struct snapshot_reader *r, const char *name, const char *to,
                               const uint32_t *want_crc, int *unsynced, char *err,
                               size_t err_len);

/* Maps `memory` private and writable: a restored guest's writes are its own
 * (copy-on-write) and never reach the file; untouched pages are shared with
 * other mappings through the page cache. The mapping belongs to the caller
 * (munmap(*ptr, *size)) and outlives snapshot_close. Returns 0, or -1 with a
 * reason. */
int snapshot_map_memory(struct snapshot_reader *r, void **ptr, uint64_t *size, char *err,
                        size_t err_len);

/* Maps `memory` read-only and shared: the guest's RAM as it was saved, however
 * a restored guest writes to its own mapping, in the page cache pages every
 * clone shares. The size is the manifest's (checked as snapshot_map_memory
 * checks it); the mapping belongs to the caller and outlives snapshot_close.
 * Returns 0, or -1 with a reason. */
int snapshot_map_saved_memory(struct snapshot_reader *r, const void **ptr, char *err,
                              size_t err_len);

/* Reads `memory` back and checks every region's checksum (slow: a whole read
 * of RAM; restore skips it). Returns 0, or -1 naming the first bad region. */
int snapshot_verify_memory(struct snapshot_reader *r, char *err, size_t err_len);

/* What tells whether `memory` is still the file whose checksums were
 * checked: its device, inode, size and the times of its last change, as text
 * ("dev:ino:size:mtime:ctime"). Writing the file, or putting another in its
 * place, changes it. Returns 0, or -errno. */
#define SNAPSHOT_MEMORY_ID_LEN 128
int snapshot_memory_id(const struct snapshot_reader *r, char *out, size_t len);
/* The same, for the snapshot at dir, without opening the snapshot. */
int snapshot_memory_id_at(const char *dir, char *out, size_t len);

void snapshot_close(struct snapshot_reader *r);

#endif
