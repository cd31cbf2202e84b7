// GDAL driver classes of the GEOMAML driver. All geomaml logic is in Rust (lib.rs);
// this file only adapts GDAL's C++ driver model to the opaque handle functions.
//
// Connection string: GEOMAML:MODEL.onnx:SCENE.tif (the first ':' after the prefix
// separates the model path from the scene, so the scene may be a /vsi... path), or
// a descriptor file `*.geomaml` (JSON with "model", "scene" and map options; see
// lib.rs), which file dialogs such as QGIS's can open.
// One band of class ids (Byte), blocks = the map plan's blocks, colour table,
// category names, nodata and metadata as `geomaml map` writes them. Overview levels
// are datasets of their own (as GDAL's drivers keep them), sharing the base
// dataset's handle; their blocks are computed on read like the map's.

#include "cpl_error.h"
#include "cpl_string.h"
#include "gdal_priv.h"
#include "ogr_spatialref.h"

#include <cstring>
#include <string>
#include <vector>

extern "C" {
struct GeoMamlHandle;
struct GeoMamlInfo {
    int width;
    int height;
    int block;
    double geo_transform[6];
    const char *crs_wkt;
    int n_bands;
    int classes;
    const char *const *band_names;
    int nodata;
    const char *const *metadata;
    int n_metadata;
    const char *const *categories;
    int n_categories;
    const int *colour_ids;
    const unsigned char *colour_rgb;
    int n_colours;
    int n_overviews;
    const int *overviews;
};

GeoMamlHandle *geomaml_gdal_open(const char *model, const char *scene, char **err);
GeoMamlHandle *geomaml_gdal_open_descriptor(const char *path, char **err);
const GeoMamlInfo *geomaml_gdal_info(const GeoMamlHandle *h);
int geomaml_gdal_read_block(const GeoMamlHandle *h, int level, int bx, int by,
                            unsigned char *const *bufs, char **err);
void geomaml_gdal_close(GeoMamlHandle *h);
void geomaml_gdal_free_string(char *s);
void geomaml_gdal_shim_register(void);
}

namespace {

const char PREFIX[] = "GEOMAML:";
const char EXTENSION[] = "geomaml";

void report(char *err, const char *fallback) {
    CPLError(CE_Failure, CPLE_AppDefined, "%s", err ? err : fallback);
    geomaml_gdal_free_string(err);
}

class GeoMamlDataset final : public GDALDataset {
    friend class GeoMamlBand;
    GeoMamlHandle *handle_ = nullptr; // owned by the base dataset (level 0)
    const GeoMamlInfo *info_ = nullptr;
    int level_ = 0; // 0: the map; i: overview i
    std::vector<GeoMamlDataset *> overviews_;
    OGRSpatialReference srs_;

  public:
    GeoMamlDataset() { srs_.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER); }
    ~GeoMamlDataset() override {
        FlushCache(true);
        for (GeoMamlDataset *o : overviews_)
            delete o;
        if (level_ == 0)
            geomaml_gdal_close(handle_);
    }

    // Adds the bands of this level (the base dataset also its overview levels).
    void AddBands();

    CPLErr GetGeoTransform(double *gt) override {
        std::memcpy(gt, info_->geo_transform, sizeof(double) * 6);
        if (level_ > 0) { // scaled to this level's grid from the same origin
            const double fx = static_cast<double>(info_->width) / nRasterXSize;
            const double fy = static_cast<double>(info_->height) / nRasterYSize;
            gt[1] *= fx;
            gt[2] *= fy;
            gt[4] *= fx;
            gt[5] *= fy;
        }
        return CE_None;
    }
    const OGRSpatialReference *GetSpatialRef() const override {
        return srs_.IsEmpty() ? nullptr : &srs_;
    }

    static bool IsDescriptor(GDALOpenInfo *oi) {
        if (oi->nHeaderBytes == 0 || !EQUAL(CPLGetExtension(oi->pszFilename), EXTENSION))
            return false;
        const char *header = reinterpret_cast<const char *>(oi->pabyHeader);
        return std::strchr(header, '{') != nullptr && std::strstr(header, "\"model\"") != nullptr;
    }
    static int Identify(GDALOpenInfo *oi) {
        return STARTS_WITH_CI(oi->pszFilename, PREFIX) || IsDescriptor(oi) ? TRUE : FALSE;
    }
    static GDALDataset *Open(GDALOpenInfo *oi);
};

class GeoMamlBand final : public GDALRasterBand {
    GDALColorTable colours_;
    char **categories_ = nullptr;

  public:
    GeoMamlBand(GeoMamlDataset *ds, const GeoMamlInfo *info, int band, int block) {
        poDS = ds;
        nBand = band;
        eDataType = GDT_Byte;
        nRasterXSize = ds->GetRasterXSize();
        nRasterYSize = ds->GetRasterYSize();
        nBlockXSize = block;
        nBlockYSize = block;
        SetDescription(info->band_names[band - 1]);
        for (int i = 0; i < info->n_colours; ++i) {
            const unsigned char *rgb = info->colour_rgb + 3 * i;
            GDALColorEntry e = {rgb[0], rgb[1], rgb[2], 255};
            colours_.SetColorEntry(info->colour_ids[i], &e);
        }
        for (int i = 0; i < info->n_categories; ++i)
            categories_ = CSLAddString(categories_, info->categories[i]);
    }
    ~GeoMamlBand() override { CSLDestroy(categories_); }

    // A block is computed for all bands at once: the other bands' blocks are
    // computed into scratch buffers and, on success only, put into GDAL's block
    // cache (so a failed read never leaves a block behind).
    CPLErr IReadBlock(int bx, int by, void *image) override {
        auto *ds = static_cast<GeoMamlDataset *>(poDS);
        const int n = ds->GetRasterCount();
        const size_t size = static_cast<size_t>(nBlockXSize) * nBlockYSize;
        std::vector<std::vector<unsigned char>> scratch(n);
        std::vector<unsigned char *> bufs(n, nullptr);
        for (int b = 1; b <= n; ++b) {
            if (b == nBand) {
                bufs[b - 1] = static_cast<unsigned char *>(image);
            } else {
                scratch[b - 1].resize(size);
                bufs[b - 1] = scratch[b - 1].data();
            }
        }
        char *err = nullptr;
        if (geomaml_gdal_read_block(ds->handle_, ds->level_, bx, by, bufs.data(), &err) != 0) {
            report(err, "GEOMAML: reading a block failed");
            return CE_Failure;
        }
        for (int b = 1; b <= n; ++b) {
            if (b == nBand)
                continue;
            GDALRasterBlock *block = ds->GetRasterBand(b)->TryGetLockedBlockRef(bx, by);
            if (block != nullptr) { // already cached (same values)
                block->DropLock();
                continue;
            }
            block = ds->GetRasterBand(b)->GetLockedBlockRef(bx, by, TRUE);
            if (block == nullptr)
                continue; // out of cache memory: this band's block is computed on demand
            if (block->GetDataRef() != nullptr)
                std::memcpy(block->GetDataRef(), scratch[b - 1].data(), size);
            block->DropLock();
        }
        return CE_None;
    }
    GDALColorTable *GetColorTable() override {
        return static_cast<GeoMamlDataset *>(poDS)->info_->classes ? &colours_ : nullptr;
    }
    GDALColorInterp GetColorInterpretation() override {
        return static_cast<GeoMamlDataset *>(poDS)->info_->classes ? GCI_PaletteIndex
                                                                   : GCI_Undefined;
    }
    char **GetCategoryNames() override { return categories_; }
    // Statistics and histograms of a map computed on read come from its overviews
    // (GDAL's approximate statistics, marked STATISTICS_APPROXIMATE=YES) even when
    // exact ones are asked for, as viewers do when a layer opens: exact ones would
    // compute the whole map. GEOMAML_EXACT_STATISTICS=YES restores exact ones.
    static bool Approx(int approx_ok) {
        return approx_ok || !CPLTestBool(CPLGetConfigOption("GEOMAML_EXACT_STATISTICS", "NO"));
    }
    CPLErr ComputeStatistics(int approx_ok, double *min, double *max, double *mean,
                             double *stddev, GDALProgressFunc progress, void *data) override {
        return GDALRasterBand::ComputeStatistics(Approx(approx_ok), min, max, mean, stddev,
                                                 progress, data);
    }
    CPLErr ComputeRasterMinMax(int approx_ok, double *min_max) override {
        return GDALRasterBand::ComputeRasterMinMax(Approx(approx_ok), min_max);
    }
    CPLErr GetHistogram(double min, double max, int buckets, GUIntBig *histogram,
                        int include_out_of_range, int approx_ok, GDALProgressFunc progress,
                        void *data) override {
        return GDALRasterBand::GetHistogram(min, max, buckets, histogram, include_out_of_range,
                                            Approx(approx_ok), progress, data);
    }
    int GetOverviewCount() override {
        return static_cast<int>(static_cast<GeoMamlDataset *>(poDS)->overviews_.size());
    }
    GDALRasterBand *GetOverview(int i) override {
        auto &ovr = static_cast<GeoMamlDataset *>(poDS)->overviews_;
        if (i < 0 || i >= static_cast<int>(ovr.size()))
            return nullptr;
        return ovr[i]->GetRasterBand(nBand);
    }
    double GetNoDataValue(int *success) override {
        if (success)
            *success = TRUE;
        return static_cast<GeoMamlDataset *>(poDS)->info_->nodata;
    }
};

GDALDataset *GeoMamlDataset::Open(GDALOpenInfo *oi) {
    if (!Identify(oi))
        return nullptr;
    if (oi->eAccess == GA_Update) {
        CPLError(CE_Failure, CPLE_NotSupported, "GEOMAML: datasets are read-only");
        return nullptr;
    }
    char *err = nullptr;
    GeoMamlHandle *h = nullptr;
    if (STARTS_WITH_CI(oi->pszFilename, PREFIX)) {
        const std::string rest(oi->pszFilename + std::strlen(PREFIX));
        const auto colon = rest.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
            CPLError(CE_Failure, CPLE_OpenFailed,
                     "GEOMAML: expected GEOMAML:MODEL.onnx:SCENE.tif, got %s", oi->pszFilename);
            return nullptr;
        }
        const std::string model = rest.substr(0, colon), scene = rest.substr(colon + 1);
        h = geomaml_gdal_open(model.c_str(), scene.c_str(), &err);
    } else {
        h = geomaml_gdal_open_descriptor(oi->pszFilename, &err);
    }
    if (!h) {
        report(err, "GEOMAML: opening failed");
        return nullptr;
    }
    const GeoMamlInfo *info = geomaml_gdal_info(h);
    if (!info) {
        geomaml_gdal_close(h);
        CPLError(CE_Failure, CPLE_AppDefined, "GEOMAML: no dataset description");
        return nullptr;
    }
    auto *ds = new GeoMamlDataset();
    ds->handle_ = h;
    ds->info_ = info;
    ds->nRasterXSize = info->width;
    ds->nRasterYSize = info->height;
    if (info->crs_wkt && info->crs_wkt[0])
        ds->srs_.importFromWkt(info->crs_wkt);
    for (int i = 0; i < info->n_metadata; ++i) {
        char *key = nullptr;
        const char *value = CPLParseNameValue(info->metadata[i], &key);
        if (key && value)
            ds->SetMetadataItem(key, value);
        CPLFree(key);
    }
    ds->SetDescription(oi->pszFilename);
    ds->AddBands();
    return ds;
}

void GeoMamlDataset::AddBands() {
    const int block = level_ == 0 ? info_->block : info_->overviews[3 * (level_ - 1) + 2];
    for (int b = 1; b <= info_->n_bands; ++b)
        SetBand(b, new GeoMamlBand(this, info_, b, block));
    if (level_ != 0)
        return;
    for (int i = 1; i <= info_->n_overviews; ++i) {
        auto *o = new GeoMamlDataset();
        o->handle_ = handle_;
        o->info_ = info_;
        o->level_ = i;
        o->nRasterXSize = info_->overviews[3 * (i - 1)];
        o->nRasterYSize = info_->overviews[3 * (i - 1) + 1];
        o->srs_ = srs_;
        o->AddBands();
        overviews_.push_back(o);
    }
}

} // namespace

extern "C" void geomaml_gdal_shim_register(void) {
    if (!GDAL_CHECK_VERSION("GEOMAML"))
        return;
    if (GDALGetDriverByName("GEOMAML") != nullptr)
        return;
    auto *driver = new GDALDriver();
    driver->SetDescription("GEOMAML");
    driver->SetMetadataItem(GDAL_DCAP_RASTER, "YES");
    driver->SetMetadataItem(GDAL_DMD_LONGNAME, "geomaml land-cover map computed on read");
    driver->SetMetadataItem(GDAL_DMD_CONNECTION_PREFIX, PREFIX);
    driver->SetMetadataItem(GDAL_DMD_EXTENSION, EXTENSION);
    driver->SetMetadataItem(GDAL_DCAP_VIRTUALIO, "YES");
    driver->pfnIdentify = GeoMamlDataset::Identify;
    driver->pfnOpen = GeoMamlDataset::Open;
    GetGDALDriverManager()->RegisterDriver(driver);
}
