// Package sluicepb holds the generated Go code for the wire contracts of Sluice: the gRPC
// services and messages defined by the .proto files in the api folder, and the journal
// entries of the master.
//
// The working-cluster issue writes the .proto files; `make proto` regenerates this package.
package sluicepb
