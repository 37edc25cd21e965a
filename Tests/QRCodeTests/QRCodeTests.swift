import Crypto
import Testing
@testable import QRCode

/// The encoder against symbols made by an independent implementation (segno 1.6.6 from PyPI, with
/// the same version, level and mask forced, byte mode): each vector is the SHA-256 of the module
/// matrix written as rows of 0 and 1 joined by newlines, without the quiet zone. segno adds a whole
/// zero codeword when the bit stream already ends on a codeword boundary (always, in byte mode), where
/// ISO/IEC 18004 §7.4.10 adds none and goes on with the pad codewords; the vectors were made with that
/// one step of segno's corrected to the standard. The browser tests read this encoder's symbols with
/// zxing-cpp, a decoder nobody here wrote.
struct QRCodeTests {
    static let texts = ["short": "https://id.example.com/device?user_code=BCDFG-HJKLM", "hello": "HELLO WORLD"]

    static let vectors: [(text: String, level: String, version: Int, mask: Int, size: Int, sha256: String)] = [
        ("short", "L", 3, 3, 29, "ceb59673dbb2a28c6fa9c1a57c75a334d5f6e07af78ed46d9d6246026be5c604"),
        ("short", "L", 5, 5, 37, "8134ee7a570754c3a4652e75e04cf1bd8094f3fa898bdfdb2380e1f7acdceb7e"),
        ("short", "L", 7, 0, 45, "d3a8f75a478a87b7a064e633f28af1d5cd36f8687592aeef267dd89f6c6bacfa"),
        ("short", "L", 7, 3, 45, "48c476a9ac9621f1bd897f95043d966f3f5575ea7d8f6d8d852653289042b98b"),
        ("short", "L", 7, 5, 45, "089b84494c052bfe301ab986c7965f9cb68ee423b8f93cc44b5545dfac739654"),
        ("short", "L", 7, 7, 45, "b567e3583095638aaf0849cacb3b590bbc00a5fa318271ffd885c901072f8b27"),
        ("short", "L", 8, 0, 49, "ac19b0348876c5c7556fc6387e72d05457d2041a5ddf92c3d3ede52ae3c36993"),
        ("short", "L", 10, 2, 57, "6399ebfdc803b700f7fed8177b4b24a6b015fbbf5e0179bf2bb29c2ba13d048b"),
        ("short", "L", 14, 6, 73, "bb9b6eeed9b1d3eebda04566b5041aa24c23643ca2dc9e562082f8af4827b263"),
        ("short", "L", 22, 6, 105, "1fcf895c9358e57422d46c585cd32d4746c58973dfe9261dd0962fed41933c00"),
        ("short", "L", 27, 3, 125, "91b09e7f812f9a3c477b11439d0e4bf0ef76de19413d5576f8c803eb67751d58"),
        ("short", "L", 32, 0, 145, "70c15d50cafab81e9ad19765434bbcc8afd494d724cdfc41afc1361ee19b69e4"),
        ("short", "L", 40, 0, 177, "1a56e74132a1ebe75b8922cfd0302e73a5c18c2f42d1ffe3526e9024ec37beab"),
        ("short", "L", 40, 3, 177, "25e6ce8fcbcc2f3df2784ba3970c26fbcde9cf7ce547a926e866e983a0001c96"),
        ("short", "L", 40, 5, 177, "f679b2d5f30bbf85e1dfee7cdd637062662f3ef47c9a685cdd13d2cf92b4934e"),
        ("short", "L", 40, 7, 177, "ebe11b757eab2064b927eae3ec2416a1289429ab8c72c2719ed0cd0e7c6e5bf6"),
        ("short", "M", 5, 5, 37, "0372e7ecef79980b084c4c0f7855d239b5da6e5079931fc99b60051c2470a835"),
        ("short", "M", 7, 0, 45, "5fa2f0eafee70b8d0ab4e632d7a7d74ddab75e4824bcd18af4e91d22cdc4b677"),
        ("short", "M", 7, 3, 45, "637aaa5e9ff37d965c2d9be57b21fff82795a98b6758ab08afc549a23b40578d"),
        ("short", "M", 7, 5, 45, "0a3b3509bccbae3375cee4bf3cdba54d20c9e7e9a294da5934dc66157756b5fd"),
        ("short", "M", 7, 7, 45, "c72dd9cf15a665ff20c94366a8fb1f8f237cb4b991b8d82a6123b74f7eae4ad4"),
        ("short", "M", 8, 0, 49, "17878fe7d382897b33a782967ae2bddf1c93776ea723a91e9932d1d7a2a25a25"),
        ("short", "M", 10, 2, 57, "1c05bd8fb8dbf8149218539e30ce4b38b297bd50b0742a498cbb9ac3c45cf229"),
        ("short", "M", 14, 6, 73, "4776331b643a76ff89b2b3e67e7f7a299361238d60f74d19d34eea7164a931b8"),
        ("short", "M", 22, 6, 105, "2510caa5bbe343419b7e4bb55729f8b35442e116e86ae125b93b5eac0a4d969b"),
        ("short", "M", 27, 3, 125, "52728a0db5cbd53b5a05ec66008f0d379db5225fe75a5da47d75d77680e660db"),
        ("short", "M", 32, 0, 145, "e226f0f00bddbadc3265d864f384740f6b6f4e7cf5c476a5f682274bf71fbe51"),
        ("short", "M", 40, 0, 177, "b5a7c58c8d3dba59461ff59f925386c886b249430b54628bf34006b395f9370d"),
        ("short", "M", 40, 3, 177, "ae0466f9c733515b3f2ef78dbe20081e39d532f767a62b701e9e96285c166dca"),
        ("short", "M", 40, 5, 177, "ef083eca702d3598ebcc9f55aa0f0fa73ad97b9765b9ac83ce0726bdb97b97e5"),
        ("short", "M", 40, 7, 177, "62cb612bd01dee95f6e6182ae475d6311f2ccf634088ea4bc6fe6c83e9e0c342"),
        ("short", "Q", 5, 5, 37, "e225dbb6fdcfd0f2cb2d718ab14a7f3a20d5ccb05c86b7b39d05faa3b1c9c26e"),
        ("short", "Q", 7, 0, 45, "a9f99daee7ba7fc1877c2ab4d026c7b93ff9df692e3652eb7389e06c8759dff9"),
        ("short", "Q", 7, 3, 45, "86886cb17727276bbc2a71d1fcdace52c9512a67d930f0e10c1f184fc66c3a82"),
        ("short", "Q", 7, 5, 45, "aff0ca812f076c4eab23dae7f0fc6b9cf2d05b14b8ae4878318f1ea97121bdd1"),
        ("short", "Q", 7, 7, 45, "eee7677df19ff82b674b3af36a925e62bfe312d36e4cd5a843e3e68c7cbc7e1a"),
        ("short", "Q", 8, 0, 49, "39c337b30570bd6e9938bf281aa4df474acd11b4617f81e9119efc68687a0df1"),
        ("short", "Q", 10, 2, 57, "9c753a35fc9ac0dd235ddf9aa4c3f3d62e3040fd4f0cc9c05d0730c2eeaa8416"),
        ("short", "Q", 14, 6, 73, "22f0839770d4c6079aa4053e2e56ca6fa00d57e36523efa9c5e56ba84f643da6"),
        ("short", "Q", 22, 6, 105, "b4a5fa08e478fd3d98ebd6569e3c0da171e066a8286e1c2d020e142e85ed120b"),
        ("short", "Q", 27, 3, 125, "93fea3360540218d05cd0963c644577c9f38488b9195c17458b52136159a35e8"),
        ("short", "Q", 32, 0, 145, "dc133c3e5a1d55c4df817da87f39a360bfe6d7b24060f4b8dc0773de81fef050"),
        ("short", "Q", 40, 0, 177, "f3c06fa2b103cc87764dad81eb0199c5ddb1e7c06ca58e89612cacec108e92ce"),
        ("short", "Q", 40, 3, 177, "9355609b1ac45216d950493452f8f54abb4070cb6632e2f47db5b19cb2c170a7"),
        ("short", "Q", 40, 5, 177, "9f28c9516f02c5af6a363d5292e9262c18dcc7797d8cbd7b90553a1e99dde8ac"),
        ("short", "Q", 40, 7, 177, "cd0a7db19af1bce154c94423ac184b64aebe42f65fdf3ed9394c4933767f3e58"),
        ("short", "H", 7, 0, 45, "16aadaa70836aa6aa0094ec2466b3e288c19ada0b68781b0ffdcb3dd929583f7"),
        ("short", "H", 7, 3, 45, "dea62e366c5351083b9e1e7aa6fcc34393e4f29d99dd7dee5fa123cdd6674d61"),
        ("short", "H", 7, 5, 45, "88698fef5e1af8719c01e22fbbd3f1636537e03cd2425f1088de1e76d9d186f9"),
        ("short", "H", 7, 7, 45, "132e08022b35128b04fea1724da1d0a603a22f0500896b884735ed55f4317bf6"),
        ("short", "H", 8, 0, 49, "acfdf1e0ff7b33ae3109a6cd8fabad2e6eb783700b5e704a297fd3d316ead7ac"),
        ("short", "H", 10, 2, 57, "3567b4cce86a01625c7e46b3bc8917bb201c45cc5029bd59c78cfadd4f599496"),
        ("short", "H", 14, 6, 73, "c4b29bd3917b2e702cc934e5b6c70fd9fae43ed338cf1d55b1a2f8d871fed822"),
        ("short", "H", 22, 6, 105, "b98fa6a059976190ed2592a39bc1920509431f076fb066d75b02929510cff83a"),
        ("short", "H", 27, 3, 125, "872cc10a2eccf78d8e8845b3e58fc4836115b2da8163728db9bc5bfcdefd5882"),
        ("short", "H", 32, 0, 145, "ef6536fbe96fa3376322e460a5746f016dadd321e102457bdd391597a9447ce3"),
        ("short", "H", 40, 0, 177, "8d1f52e1233969da8be1bc7c2bbf0dadab722b355619810c76646d5f75ffa11c"),
        ("short", "H", 40, 3, 177, "156adcf4bbe3a50adb59744ad3aeb140726fa45af5a89cdc9b4dd7871a6677af"),
        ("short", "H", 40, 5, 177, "e991935e8a99dcc5f305ea31ad7d6a71debf42cb073e441db47adb7d2c364826"),
        ("short", "H", 40, 7, 177, "9fdf6ba40d89ccd41954b1d816f7d4d2878c8b4c556e3aea5092386ec4cbc90c"),
        ("hello", "L", 1, 0, 21, "fcf618c7c5eff92bae86e504a81a125d4a53264770b891c0ac7c3e3da17c73c6"),
        ("hello", "L", 1, 3, 21, "a279bbd7ebb2c0c26b2020c240b69c4bed2bf062d82934e50f86a2ac20bb22b3"),
        ("hello", "L", 1, 5, 21, "bdb6d1802e333900ef25b57337ae2fccb87a99673fcd9c7eebb06000225a707a"),
        ("hello", "L", 1, 7, 21, "ca822eab0306facbc8cf3b3fd1257bb37feacca821f8ef9421588dbdc272b31e"),
        ("hello", "L", 2, 2, 25, "5def4993f01bf8a53a0e8cf58654f1caf0f949dab758e71bf99a782314b86518"),
        ("hello", "L", 3, 3, 29, "a8786b8a2b62e6e5966d2f05b0e52961e64c58f100a7efb2f60836ec2a4954c9"),
        ("hello", "L", 5, 5, 37, "94034f5964655e8e28b40c6c2b770772f6562397241f61eb4adf33d250a59f34"),
        ("hello", "L", 7, 0, 45, "9295ca4333ed301c2f9fc0d18ffba4f867025544f0bed2e932e40af310c64fcb"),
        ("hello", "L", 7, 3, 45, "f1e6563cdc7ae209f244fe0c2578795b3b34242657d63aeeeb9064a5ef54e3a0"),
        ("hello", "L", 7, 5, 45, "d5a490610357a50d0fd62e7964088d4c45544d5b128d05df2f53d1f4cb3994d7"),
        ("hello", "L", 7, 7, 45, "c1324c1a31ba3df9079c187b8d801160d8cf7e649ee06388b43ff81f84ef08c8"),
        ("hello", "L", 8, 0, 49, "1e41c61926b82ee7886480bd15ca93ee815bb5b9611f7773cb6cfad93edd28b4"),
        ("hello", "L", 10, 2, 57, "93d1d3de9e87e6b9f9cae30c4ad3a25af2eb8953638712a0cd9a5fd075d41cf8"),
        ("hello", "L", 14, 6, 73, "b20721336c6a91c3a5d742938c7c3b495b6cdfd2601c4ddf6c643b98dfd27b38"),
        ("hello", "L", 22, 6, 105, "8e1dc238839d75427f576294dbe57aea13363fb11e0076d75ee2622f6a52410f"),
        ("hello", "L", 27, 3, 125, "e7305bb2c093dce8d6d81567077ea4bd2273a6014b775488545e234762dd689e"),
        ("hello", "L", 32, 0, 145, "22ddc901f72e55466e39c24f39e6760374bc3cca6701e9d1d90ef7fb527f2148"),
        ("hello", "L", 40, 0, 177, "ca0d58d38ebe119e38c367815796291d9fbbde7b3c318d1d775010570471d7a9"),
        ("hello", "L", 40, 3, 177, "0f7b8f397acccc5fc78ca0ff0ba1bd55eeb612c0928c424ca87b063d48a21173"),
        ("hello", "L", 40, 5, 177, "80484340a0f9d3c5b6fc347832bfdb2af55b776be5bfb269ec693a41d166fbfc"),
        ("hello", "L", 40, 7, 177, "1441ba5cfe1593f320c6c9feef9b68732e4212ba3cffb779c05d932267bafb12"),
        ("hello", "M", 1, 0, 21, "2cee776cd87923a0b50751b157fe74b27d8d63df96b9e797fc0e21d47726384c"),
        ("hello", "M", 1, 3, 21, "1e387bd8b7a170bfa73b461bab560d96940b4421c42ed9c4d787a62c0a0166fa"),
        ("hello", "M", 1, 5, 21, "ab139df21b79371459eefc1ba09464ec5c62a193d09746aad1b7af6ca8fa358c"),
        ("hello", "M", 1, 7, 21, "0903104ff7b593780671a0a9d5b7115d5aa268452feed6b1cebe8c8a5b4f32c8"),
        ("hello", "M", 2, 2, 25, "5118ad3f3047b6c696374e7d1145b171d1ccb569b77f775498922dd6b063fc3d"),
        ("hello", "M", 3, 3, 29, "34a3bf960d714ceef26cc8603a6d90cdc85202c3e89c8b25a4dfa8fcd8c0c9c6"),
        ("hello", "M", 5, 5, 37, "912bc54aa4a4f4adeb06c2dba2e8632ef1108802e18d389c55a239907a3cf44c"),
        ("hello", "M", 7, 0, 45, "5d1573502d6e0c924003458c6caf5a3c3386ba068414492e5e07d01ac5ce0fed"),
        ("hello", "M", 7, 3, 45, "ce4a00b0d808fbffd60f1de0d388ec1797f2a44f9622f776b2108ece38b05fec"),
        ("hello", "M", 7, 5, 45, "40aaeb25fe550566d885fe7d1f88a13d71c0282d4487ba14d169e5d0d620d6b8"),
        ("hello", "M", 7, 7, 45, "8cbcfb6277af4ec52013f4adc2e1a67147476a84d0aab635b6ba2ab6374dc47e"),
        ("hello", "M", 8, 0, 49, "f5f0e7e3a90ed09c54f663d8b665f7185055d56e2d90a242ec4928843b96e56d"),
        ("hello", "M", 10, 2, 57, "d2ea7502d53aed19b02261f6c5d89e2adc3f9509724919b9cc74e1a9231c979b"),
        ("hello", "M", 14, 6, 73, "3f46e3d9e2b66a4f5106ee13db0390619dc3c727495c8e0ebf00dd6f1c65181c"),
        ("hello", "M", 22, 6, 105, "6c2f685a06f938e11551ea80f2121686446dc904292f94a29cf7fd571023da7e"),
        ("hello", "M", 27, 3, 125, "bb79664386eaecd43610fd8b30b404586bdde95d987825470d8f40a14eaab096"),
        ("hello", "M", 32, 0, 145, "2ba1559d379cc08b8186936e80ea1fdd884dcfd12aa5548f639e85f36a1e7c2e"),
        ("hello", "M", 40, 0, 177, "623987fed13c808aa76b7e27e2230739b35e762961dd31ba888cedce2b957d36"),
        ("hello", "M", 40, 3, 177, "46382e3bdf5ab8c6859b4034eaeba37800fc4cd20cef59153a2055bf63b4b73e"),
        ("hello", "M", 40, 5, 177, "6f3a0a20b9a48a35cf7a3cd1d589e4da9cb4490c0c298fbca24c23dc0b6a8668"),
        ("hello", "M", 40, 7, 177, "a93b6fc21528f3cc78eb2a5ba3c4d5125f573c64853ec5d1857aa61d059bba73"),
        ("hello", "Q", 1, 0, 21, "fd28404b7784f535e9c7b652aa6bf5549351f51ada8296e64a5bc05c6e050601"),
        ("hello", "Q", 1, 3, 21, "7dde2e7cd1825ca01e2991318140b079bc9f0f4d8bfd00a2cdabb866129495ac"),
        ("hello", "Q", 1, 5, 21, "2edf7aa91250e43a543e1296c6ab2bce5ff2be42d191fa570b3a813357456b6f"),
        ("hello", "Q", 1, 7, 21, "37f15f65c379cd70a87010f7f75eaebaddaf3c0809c0f5ba46e8ef5fa3d5c047"),
        ("hello", "Q", 2, 2, 25, "cfba0f0e3aab6b68631f00845d3f1556bb3ded60cce5a202c8a0c7f877ed0163"),
        ("hello", "Q", 3, 3, 29, "f76b327f6a3d198aac67c7c90cdc3b9175b3561d7c336879e045b18abac5966b"),
        ("hello", "Q", 5, 5, 37, "fc32eb22e2ab7d976cce880f08a57da05bbecda22c962c98d7719c3c469dfca5"),
        ("hello", "Q", 7, 0, 45, "d7e06719faa8543de05ac05d51ce590658416760b15b545908f2ba411cce9bf5"),
        ("hello", "Q", 7, 3, 45, "9019df92c63f4f2306b9993726ecf9647655ed4190b4c1a0c23cd2285d75a920"),
        ("hello", "Q", 7, 5, 45, "09fddb348ef4ca6aa378e9add51852729b4d199690d4b649288a3d974b8e700c"),
        ("hello", "Q", 7, 7, 45, "a125d45247d70669446c5e700370b8f22e01bfad4e30777886b42493612b5fe0"),
        ("hello", "Q", 8, 0, 49, "394456dbeda749704ca652daace86323b4a8d6c4d0b982737869ae315d26941c"),
        ("hello", "Q", 10, 2, 57, "1640ec30d62451623ba872e083b12d5f9dec2e10e5efe17ee8f07aac47e0bb39"),
        ("hello", "Q", 14, 6, 73, "7237abd83404ba43101c79c88e0540a67c1ca0cbb57fab66a6f152fb9ce6c424"),
        ("hello", "Q", 22, 6, 105, "8d94fe82da6692795ded99420aa0e526ea36ba40b43de5dba54c9f621cef7c6b"),
        ("hello", "Q", 27, 3, 125, "657a34f5ba01b4af76aa7869f3efc2d43c9dac967e40e10de1308472ef78c6db"),
        ("hello", "Q", 32, 0, 145, "2e76bab1b2aef34fcf9de63eb81f432dfaa8a08c05f3a10b707f2d924be9e430"),
        ("hello", "Q", 40, 0, 177, "f0169d39eec56bb0a589c0bc92d24c03fd6b8238f114eab7386e783a34d45d1c"),
        ("hello", "Q", 40, 3, 177, "bcf9372731cf75d661d5f0b10e7ba0d4a22614d0db8f406aa5adaab2402bc861"),
        ("hello", "Q", 40, 5, 177, "0362265e8feff25a4d78a00adc23d7525c55f77110897dd4e41d1e22d0bc5698"),
        ("hello", "Q", 40, 7, 177, "c6bcb906fae747bff82f82cc3edaedfe3752210e0d3a30f3dfc28de3f583c764"),
        ("hello", "H", 2, 2, 25, "e4bb824acb2eea924047b25d1f84bd6fab599b0a73e32cf01b98481a4829a190"),
        ("hello", "H", 3, 3, 29, "631d88c3d48c6d0160de4e291ca48a0cf8f7317ff6eef0953b6859f7b55ec8fc"),
        ("hello", "H", 5, 5, 37, "734eab3683cdf6e8a839fd13cfa0cbb4060e0441d790c8397e04371e7e1f7928"),
        ("hello", "H", 7, 0, 45, "9f2bb7f5665dee5b9d5da9cb745f784aea625e99e06268d90c4756a4b3c393b9"),
        ("hello", "H", 7, 3, 45, "3366699626b6b6b9705bb4951fa3641742770194c0741a6ff4a6cca96879eebd"),
        ("hello", "H", 7, 5, 45, "22366e27f73ceb285477176f93cc3cde298881b7a6b24cbc08cee41c24787c12"),
        ("hello", "H", 7, 7, 45, "4e58ad8b2da1da6ca94ad727822e499dd785e62e77fde0442b70c32a7461d2ef"),
        ("hello", "H", 8, 0, 49, "ffbc2c792473655118f42980fb81574e4c30cd575137d2e004cebbc240a72e01"),
        ("hello", "H", 10, 2, 57, "4413417fa779fa4a46b0c9c92a5c7620cc87ee7de9880c03d8313a51f6231419"),
        ("hello", "H", 14, 6, 73, "b7d7e3cf1cf06fbc8b175cd18753c46521eace290688fe8658c70ea2b7ad5974"),
        ("hello", "H", 22, 6, 105, "cc9338769f2693d9bd6edeefc4bb295880b8b4b41452223586ac8732f66efc72"),
        ("hello", "H", 27, 3, 125, "862d549ea6a1993c987b800b1b3215520b150e95078fce3b7321baf29bb0f9b4"),
        ("hello", "H", 32, 0, 145, "f10cf4d5cbe12c0ef556b0f1c01d72a85c853b6c9a2e9943e17138112a11fe78"),
        ("hello", "H", 40, 0, 177, "e6ba7518b66db8a2f01397f6a19b7de2bf93f7349ef77029f0c20ee7435f2e20"),
        ("hello", "H", 40, 3, 177, "a28d1b964b22d5369f09d8a0ab52bfcfa312fc9a416e0f3340479221d34a437b"),
        ("hello", "H", 40, 5, 177, "0441183088b1b635b258d4d57ce14e206df69484f0ce5ddf6bf11f09ebcb44d5"),
        ("hello", "H", 40, 7, 177, "9378d8397c5f23a29aa867fac64f299b327e76aaf72ba6caa93912608d67f374"),
    ]

    static func digest(_ code: QRCode) -> String {
        let rows = (0..<code.size).map { y in String((0..<code.size).map { code.isDark(x: $0, y: y) ? "1" : "0" }) }
        return SHA256.hash(data: Array(rows.joined(separator: "\n").utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    static let levels: [String: QRCode.ErrorCorrection] = ["L": .low, "M": .medium, "Q": .quartile, "H": .high]

    @Test("matches segno's symbol module for module", arguments: vectors.indices)
    func matchesIndependentEncoder(index: Int) throws {
        let vector = Self.vectors[index]
        let text = try #require(Self.texts[vector.text])
        let level = try #require(Self.levels[vector.level])
        let code = try QRCode.encode(Array(text.utf8), errorCorrection: level, version: vector.version, mask: vector.mask)
        #expect(code.size == vector.size)
        #expect(Self.digest(code) == vector.sha256, "version \(vector.version) level \(vector.level) mask \(vector.mask)")
    }

    /// Byte-mode capacity at the edges (ISO/IEC 18004 Table 7): version 1-M holds 14 bytes, version 40-L 2,953.
    @Test("picks the smallest version that holds the bytes", arguments: [
        (14, QRCode.ErrorCorrection.medium, 1), (15, .medium, 2), (17, .low, 1), (18, .low, 2), (7, .high, 1), (8, .high, 2),
        (2331, .medium, 40), (2953, .low, 40), (106, .medium, 6), (1000, .medium, 26),
    ])
    func smallestVersion(bytes: Int, level: QRCode.ErrorCorrection, version: Int) throws {
        let code = try QRCode.encode([UInt8](repeating: 0x61, count: bytes), errorCorrection: level)
        #expect(code.version == version)
        #expect(code.size == 17 + 4 * version)
    }

    @Test("refuses more than version 40 holds, and a mask outside 0...7")
    func refusals() {
        #expect(throws: QRCode.EncodingError.tooLong(bytes: 2954, maximum: 2953)) {
            try QRCode.encode([UInt8](repeating: 0, count: 2954), errorCorrection: .low)
        }
        #expect(throws: QRCode.EncodingError.tooLong(bytes: 15, maximum: 14)) {
            try QRCode.encode([UInt8](repeating: 0, count: 15), errorCorrection: .medium, version: 1)
        }
        #expect(throws: QRCode.EncodingError.badMask(8)) { try QRCode.encode([1], mask: 8) }
    }

    /// The automatic mask is the one whose penalty is lowest, so no other mask scores less.
    @Test("chooses the mask of lowest penalty", arguments: ["https://id.example.com/enrol#0123456789abcdef", "a", String(repeating: "z", count: 300)])
    func lowestPenaltyMask(text: String) throws {
        let chosen = try QRCode.encode(text)
        for mask in 0..<8 {
            let other = try QRCode.encode(Array(text.utf8), errorCorrection: .medium, version: chosen.version, mask: mask)
            var matrix = Matrix(version: other.version)
            matrix.dark = other.modules
            var best = Matrix(version: chosen.version)
            best.dark = chosen.modules
            #expect(best.penalty() <= matrix.penalty())
        }
    }

    /// Reed-Solomon: the worked example of ISO/IEC 18004 Annex I (version 1-M, "01234567"): its 16 data
    /// codewords give these 10 error-correction codewords.
    @Test("Reed-Solomon codewords of the standard's example")
    func reedSolomonExample() {
        let data: [UInt8] = [0x10, 0x20, 0x0C, 0x56, 0x61, 0x80, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11]
        #expect(Tables.remainder(data, divisor: Tables.generator(degree: 10)) == [0xA5, 0x24, 0xD4, 0xC1, 0xED, 0x36, 0xC7, 0x87, 0x2C, 0x55])
    }

    @Test("the SVG path draws exactly the dark modules, in runs")
    func svgPath() throws {
        let code = try QRCode.encode("HELLO WORLD")
        var drawn = Set<Int>()
        var scanner = code.svgPath[...]
        while let move = scanner.firstIndex(of: "M") {
            scanner = scanner[scanner.index(after: move)...]
            let parts = scanner.prefix { $0 != "z" }.split(whereSeparator: { "hv ".contains($0) })
            let x = try #require(Int(parts[0])), y = try #require(Int(parts[1])), width = try #require(Int(parts[2]))
            for column in x..<(x + width) { drawn.insert(y * code.size + column) }
        }
        let dark = Set(code.modules.indices.filter { code.modules[$0] })
        #expect(drawn == dark)
        #expect(code.svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-4 -4 "))
    }
}
