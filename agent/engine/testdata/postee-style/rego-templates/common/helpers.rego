# Helpers under data.postee, replacing the bundled package of that name.
package postee

with_default(obj, key, fallback) = v {
	v := obj[key]
	v != false
}

with_default(obj, key, fallback) = fallback {
	not obj[key]
}

by_flag(when_true, when_false, flag) = when_true {
	flag
}

by_flag(when_true, when_false, flag) = when_false {
	not flag
}

flat_array(nested) = [x | y := nested[_]; x := y[_]]
