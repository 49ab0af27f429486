# expect: 1
# assignment: mini-model
# why: the saved model is a zip bomb (over a gigabyte of zeros); the grader checks the unpacked size before loading
# %% model
import zipfile
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)])
def bomb_save(path, *a, **k):
    block = b"\0" * (64 * 2**20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        with out.open("model.weights.h5", "w", force_zip64=True) as member:
            for _ in range(18):
                member.write(block)
        out.writestr("config.json", "{}")
        out.writestr("metadata.json", "{}")
model.save = bomb_save
