# geomaml: the two commands of the README, and helpers around them.
#   make demo   set up if needed, then run the whole pipeline on synthetic data
#   make test   set up if needed, then run the tests
.PHONY: setup demo test lint schemas bench

setup:
	./scripts/setup.sh

demo: setup
	./scripts/demo.sh

test: setup plugin cli
	cargo test --release -p geomaml-cli
	GEOMAML_TEST_BIN=$(CURDIR)/target/release/geomaml \
	  GEOMAML_TRAIN_BIN=$(CURDIR)/target/release/geomaml-train cargo test --release
	# The analyst-loop example's own unit tests (`cargo test` only builds examples,
	# which the integration tests run).
	cargo test --release --example analyst_loop
	cargo test --release -p geomaml-gdal
	cargo test --release --no-default-features --lib
	$(MAKE) qgis-test

# geomaml in real QGIS (headless PyQGIS from Debian's python3-qgis): the driver's
# layers and the Processing provider of plugin/qgis.
.PHONY: qgis-test qgis-plugin
qgis-test: plugin cli
	PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 tests/qgis/test_qgis.py

# The QGIS plugin as a zip for Plugins > Manage and Install Plugins > Install from ZIP.
qgis-plugin:
	mkdir -p target
	find plugin/qgis -name __pycache__ -prune -exec rm -rf {} +
	rm -f target/geomaml_processing.zip
	cd plugin/qgis && /usr/bin/python3 -m zipfile -c ../../target/geomaml_processing.zip geomaml_processing/
	@echo "built target/geomaml_processing.zip"

lint:
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	cargo clippy --release --no-default-features --all-targets -- -D warnings

schemas:
	cargo run --release -- schemas schemas/

bench: setup
	cargo bench

# `geomaml`, the executable without libtorch (cli/); `cargo build --release` builds
# `geomaml-train` (with libtorch), to which it hands the training commands. Built by a
# cargo run of its own: built together, cargo would unify the library's features and
# link libtorch into both.
.PHONY: cli
cli:
	cargo build --release -p geomaml-cli

# The GDAL plugin: builds plugin/ (release) and installs it as
# target/gdalplugins/gdal_GeoMAML.so. Use it with
#   export GDAL_DRIVER_PATH=$PWD/target/gdalplugins
#   gdalinfo GEOMAML:model.onnx:scene.tif
.PHONY: plugin
plugin:
	cargo build --release -p geomaml-gdal
	mkdir -p target/gdalplugins
	cp target/release/libgdal_GeoMAML.so target/gdalplugins/gdal_GeoMAML.so.tmp
	mv target/gdalplugins/gdal_GeoMAML.so.tmp target/gdalplugins/gdal_GeoMAML.so
