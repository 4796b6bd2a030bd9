"""model-index.yml and configs/metafile.yml list every recipe config, for `mim search mmsls`."""
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_metafile_is_up_to_date_and_lists_existing_configs():
    proc = subprocess.run([sys.executable, str(REPO / 'tools/gen_metafile.py'), '--check'],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load((REPO / 'model-index.yml').read_text()) == {
        'Import': ['configs/metafile.yml']}
    meta = yaml.safe_load((REPO / 'configs/metafile.yml').read_text())
    collections = {c['Name'] for c in meta['Collections']}
    assert collections == {'RepAdapter', 'Convpass', 'SLS', 'UPDP'}
    configs = [model['Config'] for model in meta['Models']]
    assert len(set(configs)) == len(configs) > 100
    for model in meta['Models']:
        assert model['In Collection'] in collections
        assert (REPO / model['Config']).is_file()
    by_name = {model['Name']: model for model in meta['Models']}
    assert by_name['vit-b16_repadapter_sls_vtab1k-cifar']['Metadata'] == {
        'Training Data': 'VTAB-1k cifar', 'Architecture': ['ViT-B/16', 'RepAdapter', 'SLS']}
    assert by_name['resnet50_updp-3blocks_in1k']['In Collection'] == 'UPDP'
