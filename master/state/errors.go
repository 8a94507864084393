package state

import "errors"

// Errors of the state machine. Apply returns them (wrapped, with the path or ID at
// fault) in Result.Err; queries return them directly. They are the master's namespace
// errors: the gRPC layer maps each to one status code.
var (
	// ErrNotFound reports a path or ID with no inode, or a block of no file.
	ErrNotFound = errors.New("state: not found")
	// ErrExists reports a create, mount or rename onto a path that exists.
	ErrExists = errors.New("state: already exists")
	// ErrNotDirectory reports a file used where a directory is needed.
	ErrNotDirectory = errors.New("state: not a directory")
	// ErrIsDirectory reports a directory used where a file is needed.
	ErrIsDirectory = errors.New("state: is a directory")
	// ErrDirectoryNotEmpty reports a non-recursive delete of a directory with children,
	// or a mount onto a directory with children.
	ErrDirectoryNotEmpty = errors.New("state: directory not empty")
	// ErrFileIncomplete reports an operation that needs a COMPLETE file.
	ErrFileIncomplete = errors.New("state: file incomplete")
	// ErrFileComplete reports a second completion of a write-once file.
	ErrFileComplete = errors.New("state: file already complete")
	// ErrInvalidPath reports a path that ValidatePath rejects.
	ErrInvalidPath = errors.New("state: invalid path")
	// ErrReadOnly reports a change under a read-only mount.
	ErrReadOnly = errors.New("state: read-only mount")
	// ErrMountConflict reports a mount, unmount, rename or delete that would break the
	// mount table: mounting onto a mount point or an overlapping UFS, unmounting a mount
	// with mounts below it, moving or deleting a mount point.
	ErrMountConflict = errors.New("state: mount conflict")
	// ErrInvalidArgument reports an entry field out of range (IDs, sizes, modes, states).
	ErrInvalidArgument = errors.New("state: invalid argument")
	// ErrCorruptEntry reports journal bytes that cannot be decoded: an unknown entry
	// type without the ignorable flag, or a payload that is not valid protobuf.
	// The state machine panics on it (replicas would diverge); Decode returns it.
	ErrCorruptEntry = errors.New("state: corrupt journal entry")
	// ErrCorruptSnapshot reports a snapshot stream that Restore cannot use.
	ErrCorruptSnapshot = errors.New("state: corrupt snapshot")
)
