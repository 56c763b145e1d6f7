// Package settings reads and changes a member library's settings (privacy
// rules §1 and §3: the age of majority, retention periods, optional fields
// collected, loan terms) and lists their history.
//
// The table library_settings has one row per library (created by a trigger
// with the rules' defaults) and CHECK constraints on every range. A trigger
// on it writes one library_settings_changes row per changed field, so a
// change made by any path is recorded; Update names the actor for that
// trigger through transaction-local settings.
//
// Other packages read a library's settings with Get.
package settings
