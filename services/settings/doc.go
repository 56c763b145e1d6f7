// Package settings implements SettingsService: a member library's settings
// and their change history, for the consortium operator and for the
// library's own managers (permission library.manage).
package settings
