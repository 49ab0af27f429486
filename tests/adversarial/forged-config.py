# expect: 1
# assignment: mini-model
# why: the model's save method is replaced to write a .keras file whose config names os.system and builtins.exec; the grader allows only Keras's own modules in a model's config
# %% model
import io, json, zipfile
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
model.save("real.keras")
with zipfile.ZipFile("real.keras") as src:
    files = {n: src.read(n) for n in src.namelist()}
config = json.loads(files["config.json"])
config["config"]["layers"][0]["config"]["activation"] = {
    "module": "os", "class_name": "system", "config": "touch {HOST_TMP}-forged-config",
    "registered_name": "system"}
config["config"]["layers"][1]["config"]["kernel_initializer"] = {
    "module": "builtins", "class_name": "exec", "config": "open('{HOST_TMP}-forged-exec', 'w')",
    "registered_name": "exec"}
files["config.json"] = json.dumps(config).encode()
def forged_save(path, *a, **k):
    with zipfile.ZipFile(path, "w") as out:
        for name, data in files.items():
            out.writestr(name, data)
model.save = forged_save
