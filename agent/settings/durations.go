package settings

import (
	"fmt"
	"reflect"
	"time"
)

// Durations fills every zero (or negative) field of t, a struct of only
// time.Duration fields such as a daemon's Timings, from def.
func Durations[T any](t, def T) T {
	v, d := reflect.ValueOf(&t).Elem(), reflect.ValueOf(def)
	for i := range v.NumField() {
		if v.Field(i).Int() <= 0 {
			v.Field(i).Set(d.Field(i))
		}
	}
	return t
}

// CheckDurations says what keeps def from being a table of defaults for
// Durations: a field that is not a time.Duration, or one without a value.
func CheckDurations[T any](def T) error {
	v := reflect.ValueOf(def)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type != reflect.TypeFor[time.Duration]() {
			return fmt.Errorf("%s.%s is a %s, want a time.Duration", v.Type().Name(), f.Name, f.Type)
		}
		if v.Field(i).Int() <= 0 {
			return fmt.Errorf("%s.%s has no default", v.Type().Name(), f.Name)
		}
	}
	return nil
}
