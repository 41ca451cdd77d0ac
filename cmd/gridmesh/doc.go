// Command gridmesh is the one gridmesh binary: a peer-to-peer energy-trading
// node for a Raspberry Pi next to a household electricity meter, plus the
// tools to set one up and to try the whole system on one machine.
//
//	gridmesh init [--dir D] [--role home|authority] [--name N]
//	gridmesh run -c node.toml
//	gridmesh demo [--homes N] [--authorities N] [--slot D] [--for D] [--seed N] [--data DIR] [--json]
//	gridmesh config check [-c node.toml] [--genesis genesis.toml]
//	gridmesh version
//	gridmesh market clear --in FILE [--mode call] [--k 0.5] [--fee N] [--floor N] [--ceiling N] [--json]
//
// Every command takes --help. main only calls run(ctx, args, stdout, stderr),
// which takes its whole environment as parameters so that tests run the
// command in-process. An error is printed as one line per problem, each
// starting with "gridmesh: ", and ends the process with exit status 1, or 2
// for a usage error (an unknown command or flag, a bad flag value).
//
// gridmesh needs a 64-bit OS: badger, which stores the chain and the meter
// journal, silently loses data on 32-bit platforms. `run` and `demo` refuse to
// start on one before they touch any file.
//
// Imports: anything of gridmesh (it is the composition root; the node itself
// is wired in package node), the standard library.
package main
