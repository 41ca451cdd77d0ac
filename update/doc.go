// Package update is gridmesh's update client: it verifies signed releases,
// installs them into one of two binary slots, and decides at each start
// which binary runs, so that an update can never leave a home's Pi without
// a working node. README.md in this directory says how a utility signs and
// publishes a release and what a homeowner sees.
//
// # Releases
//
// A release is a directory (or the same files behind an http(s) URL):
// manifest.json, manifest.json.minisig and one binary per platform. The
// Manifest carries the version (semantic, "v1.4.2"), when it was created,
// when it expires, and per "GOOS/GOARCH" the binary's file name, size and
// sha256. Its exact bytes are signed. ParseManifest is strict: at most
// MaxManifestSize bytes, no unknown fields, no trailing data, plain file
// names only; it is fuzzed.
//
// Signatures are minisign's (aead.dev/minisign): Ed25519 over the BLAKE2b
// hash of the manifest, with a signed trusted comment ("gridmesh release
// v1.4.2", checked against the manifest when present). Chosen over TUF
// (go-tuf/v2) because a gridmesh release is one file per platform from one
// publisher: minisign has one key type and one small format, keys that live
// offline as a file (minisign -G, or `gridmesh release keygen`), and an
// independent verifier packaged in Debian (`minisign -V`, tested against
// both ways in this package). What TUF adds, we do here in a few lines or
// leave to the chain: rollback protection (Check refuses a version not
// newer than the running one, the active slot's or the highest ever kept,
// State.Highest), freeze protection (Expires, and a clock far behind the
// release's creation is refused, ErrClock), thresholds and key rotation
// (the authorities replace the keys by a vote on chain: more than 2/3 of
// them, never one key holder alone).
//
// The network pins its release keys in genesis.toml ([updates] keys,
// config.UpdatesSection) until the authorities vote others (network.json
// then has them); cmd/gridmesh and the node pass them in as Keys.
//
// # Slots
//
// Slots is a directory (cmd/gridmesh: "slots" beside the node's data
// directory) holding a/gridmesh, b/gridmesh and state.json (State): the
// active slot ("" = the launcher's own binary, /usr/bin/gridmesh), the
// previous one, what each slot holds (version, size, sha256), the release
// on trial, the last rollback and its reason, and the versions rolled back
// on this device. state.json is written whole under a flock, with fsync and
// an atomic rename. refused.json notes the last refused update for people;
// nothing reads it to decide.
//
// Apply runs in explicit Steps, each safe to die after (tested by SIGKILL
// after every step): verify (nothing written until the signature, version,
// expiry and platform are checked), stage the binary as <slot>/gridmesh.new
// checking size and sha256 while it streams (removed again on a mismatch),
// clear the target slot in state.json, rename the binary into place, mark
// the slot and the trial in state.json. Until the mark, the next start
// runs what ran before; after it, the new release on trial.
//
// # Starting and the trial
//
// Launch, called by `gridmesh run` before anything else, picks the binary:
// a release on trial once (Trial.Boots counts starts: a second start of the
// same trial means it crashed or hung before proving healthy, and it is
// rolled back), else the active slot, else the previous one, else the
// launcher's own binary; a slot runs only if its file still has the size and
// sha256 recorded at install, and only if it is newer than the launcher (a
// launcher upgraded by its package is not held back by an old slot).
// cmd/gridmesh execs the chosen binary in place (same PID for systemd).
// The trial binary keeps the release (Commit) once its own HTTP API has
// answered with at least Trial.MinPeers peers at every probe for
// Trial.Settle (the API is served only after the chain store is open), or
// rolls it back (Fail) when Trial.Window passes, and exits so that the
// supervisor starts the previous version. A trial interrupted by a restart
// (a crash, a power cut, systemctl restart) counts as failed: the
// conservative choice on a device nobody visits. Once kept, a release is
// not rolled back by later crashes (those may have other causes, such as a
// full disk); a trial binary that hangs without exiting is rolled back only
// at the next start, so the unit's watchdog (firmware/) should be on.
//
// # From peers
//
// A node serves the releases its slots hold to its neighbours on
// PeerProtocol (/gridmesh/<network>/update/1): Server answers requests
// "[<release>/]<file> <offset>" with up to PeerChunk bytes of a held
// release's manifest or signature (as verified at install, kept beside the
// slot's binary) or of its binary for this platform, and nothing else. A
// slot is held when state.json records it, its version was not rolled back
// here, and its kept manifest names exactly the slot's recorded size and
// sha256 (so an apply in progress, which stages the new manifest before
// it clears the slot, serves nothing of it); its binary is hashed once per
// size and modification time before any of it goes out. Without a
// release (the hex sha256 of a manifest) a request is for the highest
// version held; NewPeerSource asks for that manifest first and then pins
// the release by its hash, so the signature and the binary are of the
// same release even if the peer installs another meanwhile. Limits: the
// p2p host bounds a request to MaxPeerRequest bytes, DefaultTimeout and
// PeerReqRate a second per peer; Server answers at most MaxStreams at once
// (DefaultPeerStreams, 4: each holds a 1 MiB buffer) and says
// ErrServerBusy to the rest, which the reader asks again with a growing
// wait. Stats counts answers, bytes and refusals (busy, not held,
// malformed); the node shows them in its status (update_serving).
//
// What a peer sends is checked exactly as from a web server, in the same
// code (Check, then stage): nothing is written before the signature,
// version and expiry pass, and a binary of the wrong size or hash is
// removed again. The wiring is outside: package node registers a Server
// that cmd/gridmesh builds on the node's slots (node.Options.Releases);
// `gridmesh update check|apply --from-peer MULTIADDR` (or "bootstrap")
// reads through a dial-only host of its own. Tested here with a Requester
// calling a Server directly, in cmd/gridmesh over two p2p hosts on
// loopback (lying peers included), and between two gridmesh nodes in
// network namespaces (internal/nattest).
//
// # Announced on chain
//
// The authorities announce a release on chain by vote (chain/release.go:
// its version and its manifest's sha256) and may replace the release keys
// by vote; the node keeps what its chain says in network.json (Network,
// announce.go) for the commands beside it, and with [updates] auto asks
// its peers for the announced release by hash (NewPinnedPeerSource) and
// applies it with Options.Manifest set: a manifest of another hash is
// refused (ErrNotAnnounced) before its signature is read, and the
// signature by a key in force is still required (package node: release.go).
// Options.Note says in refused.json where a refused release came from.
//
// Imports: nothing of gridmesh (enforced by internal/deptest): the command
// (cmd/gridmesh) reads the pinned keys from genesis.toml and the node's
// health from its HTTP API and passes them in. Third-party:
// aead.dev/minisign.
package update
