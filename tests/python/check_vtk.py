"""Reads a run folder's VTK files with VTK itself and holds them to the .npy files and summary.json.

Usage: python3 check_vtk.py RUN_FOLDER. Prints one line per file checked and "vtk ok: N files"
at the end; any difference fails with an AssertionError.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET

import numpy as np
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkIOXML import vtkXMLImageDataReader

run = sys.argv[1]
summary = json.load(open(os.path.join(run, "summary.json")))
grid = summary["grid"]
nx, ny, nz = grid["cells"]
spacing_mm = [h * 1e3 for h in grid["spacing_m"]]
vtk_entry = summary["vtk"]
assert vtk_entry["length_unit"] == "mm" and vtk_entry["time_unit"] == "h", vtk_entry
materials = np.load(os.path.join(run, summary["materials_file"]))

# The collection lists every file with its time in hours.
pvd = ET.parse(os.path.join(run, vtk_entry["collection"])).getroot()
datasets = [(float(d.get("timestep")), d.get("file")) for d in pvd.iter("DataSet")]
expected = [(f["time_h"], os.path.basename(f["file"])) for f in vtk_entry["files"]]
assert len(datasets) == len(expected), (datasets, expected)
for (t, name), (t_want, name_want) in zip(datasets, expected):
    assert name == name_want and abs(t - t_want) <= 1e-12 * max(1.0, t_want), (t, name, t_want, name_want)
times = sorted({s["time_s"] for s in summary["snapshots"]})
assert [f["time_s"] for f in vtk_entry["files"]] == times, (vtk_entry["files"], times)

checked = 0
for entry in vtk_entry["files"]:
    path = os.path.join(run, entry["file"])
    reader = vtkXMLImageDataReader()
    reader.SetFileName(path)
    reader.Update()
    assert reader.GetErrorCode() == 0, (path, reader.GetErrorCode())
    image = reader.GetOutput()
    assert image.GetExtent() == (0, nx, 0, ny, 0, nz), (path, image.GetExtent())
    assert image.GetNumberOfCells() == nx * ny * nz, (path, image.GetNumberOfCells())
    assert np.allclose(image.GetOrigin(), (0.0, 0.0, 0.0), rtol=0, atol=0), (path, image.GetOrigin())
    assert np.allclose(image.GetSpacing(), spacing_mm, rtol=1e-12, atol=0), (path, image.GetSpacing(), spacing_mm)
    time_value = vtk_to_numpy(image.GetFieldData().GetArray("TimeValue"))
    assert abs(time_value[0] - entry["time_h"]) <= 1e-12 * max(1.0, entry["time_h"]), (path, time_value)
    cells = image.GetCellData()

    def cell_array(name):
        array = cells.GetArray(name)
        assert array is not None, f"{path} has no cell array {name!r}"
        # VTK's cell order is x fastest, as the .npy files' C order [nz, ny, nx].
        return vtk_to_numpy(array).reshape(nz, ny, nx)

    got = cell_array("materials")
    assert got.dtype == materials.dtype and np.array_equal(got, materials), path
    names = {"materials"}
    for snap in summary["snapshots"]:
        if snap["time_s"] != entry["time_s"]:
            continue
        # The array is named as the .npy file: its name without "_t<seconds>s.npy".
        name = os.path.basename(snap["file"]).rsplit("_t", 1)[0]
        want = np.load(os.path.join(run, snap["file"]))
        got = cell_array(name)
        assert got.dtype == want.dtype == np.float32, (path, name, got.dtype, want.dtype)
        assert np.array_equal(got, want), f"{path}: {name} differs from {snap['file']}"
        names.add(name)
    present = {cells.GetArrayName(i) for i in range(cells.GetNumberOfArrays())}
    assert present == names, (path, present, names)
    print(f"{entry['file']}: t = {entry['time_h']} h, {sorted(names)}")
    checked += 1

print(f"vtk ok: {checked} files")
