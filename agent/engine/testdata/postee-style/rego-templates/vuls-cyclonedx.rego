# An image scan as a CycloneDX 1.1 BOM with the vulnerability extension,
# for Nexus IQ and Dependency-Track.
package postee.vuls.cyclondx

import data.postee.with_default

vulnerability(v) := sprintf(`
        <v:vulnerability>
          <v:id>%s</v:id>
          <v:source name="NVD"><v:url>%s</v:url></v:source>
          <v:ratings><v:rating><v:score><v:base>%v</v:base></v:score><v:severity>%s</v:severity><v:method>%s</v:method><v:vector>%s</v:vector></v:rating></v:ratings>
          <v:recommendations><v:recommendation>%s</v:recommendation></v:recommendations>
        </v:vulnerability>`, [v.name, v.nvd_url, v.aqua_score, v.aqua_severity, v.aqua_scoring_system, v.aqua_vectors, with_default(v, "solution", "No solution available")])

component(item) := sprintf(`
    <component type="application">
      <name>%s</name>
      <version>%s</version>
      <licenses><license><id>%s</id></license></licenses>
      <v:vulnerabilities>%s
      </v:vulnerabilities>
    </component>`, [
	item.resource.name,
	with_default(item.resource, "version", "none"),
	substring(with_default(item.resource, "license", "not provided"), 0, 32),
	concat("", [vulnerability(v) | v := item.vulnerabilities[_]]),
])

title := input.image

result := sprintf(`<?xml version="1.0"?>
<bom version="1" xmlns="http://cyclonedx.org/schema/bom/1.1" xmlns:v="http://cyclonedx.org/schema/ext/vulnerability/1.0">
  <components>%s
  </components>
</bom>`, [concat("", [component(item) | item := input.resources[_]])])
