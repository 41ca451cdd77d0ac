// Package config owns gridmesh's configuration files: the node config
// (node.toml), the network's genesis file (genesis.toml) and the node key file.
//
// Both TOML files are versioned (version = 1) and decoded strictly: an unknown
// key, a value of the wrong type and a value outside its range are all errors,
// and LoadNode and LoadGenesis report every problem at once (errors.Join), one
// per line in the order the keys appear in the file, each naming the file, the
// key and what was expected:
//
//	node.toml: meter.interval: expected a duration such as "1s", got "abc"
//
// Defaults are written in one place, DefaultNode and DefaultGenesis; a key that
// a file leaves out keeps its default. Relative paths in a node config are
// relative to the directory of the config file (Node.Path), not to the working
// directory, so `gridmesh run -c /etc/gridmesh/node.toml` works from anywhere.
//
// Node.TOML and Genesis.TOML encode a config so that loading the bytes back
// gives the same value: `gridmesh init` and the demo write their files that way.
//
// The node key is an ed25519 private key in a PKCS#8 PEM file of mode 0600;
// LoadKey refuses a key file that group or others may read.
//
// This package checks what a file alone can know (syntax, types, ranges, hex
// keys, counts). Whether the network accepts the values (for example whether a
// key is admitted) is for the chain to say.
//
// Imports: unit only of gridmesh (enforced by internal/deptest), plus
// github.com/BurntSushi/toml and the standard library.
package config
