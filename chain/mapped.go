package chain

// badger maps its SSTables, value-log and memtable-log files into memory and
// writes the logs through the mapping: every page it has written or read stays in
// the process's RSS until the kernel needs the memory back. Those pages are
// page cache, not the node's own memory, but on an authority the value log
// grows by about 2 MB a day of 100 homes, so RSS would grow with the chain's
// age; a memtable's log (.mem) grows in RSS up to the memtable's size and
// drops when it is flushed, a sawtooth of 8 MiB whose period at a few homes'
// load is half an hour or more (measured: internal/soaktest). Every
// releaseEvery blocks Commit asks the kernel to page them out
// (Linux: madvise MADV_PAGEOUT, which writes back dirty pages and never loses
// data; elsewhere nothing): a page read again later is read from disk.
const releaseEvery = 64
