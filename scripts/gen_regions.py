#!/usr/bin/env python3
"""Prints the REGIONS table of src/catalog/regions.rs from a region split JSON
(keys trainregions, valregions, holdout_regions, regionlonlat)."""
import json, sys

d = json.load(open(sys.argv[1]))
split = {r: "Train" for r in d["trainregions"]}
split.update({r: "Val" for r in d["valregions"]})
split.update({r: "Test" for r in d["holdout_regions"]})
for r in sorted(split):
    lon, lat = d["regionlonlat"][str(r)]
    print(f"    Region {{ id: {r}, lon: {lon:.6f}, lat: {lat:.6f}, split: Split::{split[r]} }},")
