package postee.vuls.html.aggregation

import data.postee.flat_array

title := "Vulnerability scan reports"

url := u {
	urls := [[item] | item := input[i].url]
	u := concat("\n", flat_array(urls))
}

result := r {
	parts := [[sprintf("<h1>%s</h1>", [input[i].title]), item] | item := input[i].description]
	r := concat("\n", flat_array(parts))
}
