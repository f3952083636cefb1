// Package remedy writes Postfix table source files safely, so that a fix can
// run unattended (from a Nagios event handler at 3 a.m.) without ever losing
// an entry or leaving a half-written file. Running postmap(1) and "postfix
// reload" afterwards is lib/postfix's job.
//
// What it does:
//   - [Update] replaces a table file atomically under an exclusive lock:
//     symlinks resolved, non-regular targets refused, content re-read under
//     the lock, temp file in the same directory, fsync, rename, owner and mode
//     kept, directory fsynced, optional backup;
//   - [Diff] renders a unified diff of two versions of a table, so that a dry
//     run or a log can show what a fix changes.
//
// What it does not do: decide what the new content is (the caller passes a
// pure edit function), parse tables, know anything of certificates or SMTP,
// create a table that does not exist, keep extended attributes, ACLs or
// hard links (a rename gives the path a new inode; other hard links keep the
// old content), or remove its lock files (removing a lock file races with
// the next locker). It is meant for Unix systems only.
package remedy
